// Likes the person changed in this page's life, by track URI: every place a track is shown (a
// list, the player) reads its count and state from here first, so they agree at once.
import { request } from './api';
import { LikeTrackDocument, UnlikeTrackDocument } from './graphql/generated';

export interface LikeState {
  likeCount: number;
  viewerHasLiked: boolean;
}

interface Likeable extends LikeState {
  id: string;
  uri: string;
}

class Likes {
  private changed = $state<Record<string, LikeState>>({});
  pending = $state<Record<string, boolean>>({});

  of(track: Likeable): LikeState {
    return this.changed[track.uri] ?? track;
  }

  /** Like or unlike; shown at once, undone (and the error thrown) if relay refuses. */
  async toggle(track: Likeable): Promise<void> {
    if (this.pending[track.uri]) return;
    const before = this.of(track);
    const liking = !before.viewerHasLiked;
    this.changed[track.uri] = {
      viewerHasLiked: liking,
      likeCount: Math.max(0, before.likeCount + (liking ? 1 : -1))
    };
    this.pending[track.uri] = true;
    try {
      const answer = liking
        ? (await request(LikeTrackDocument, { id: track.id })).likeTrack
        : (await request(UnlikeTrackDocument, { id: track.id })).unlikeTrack;
      if (answer) {
        this.changed[track.uri] = {
          likeCount: answer.likeCount,
          viewerHasLiked: answer.viewerHasLiked
        };
      }
    } catch (error) {
      this.changed[track.uri] = before;
      throw error;
    } finally {
      this.pending[track.uri] = false;
    }
  }
}

export const likes = new Likes();
