"""Use cases: orchestration of media, storage, atproto and the index. Never imports Strawberry."""
