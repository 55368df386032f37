"""relay: an ATProto-native GraphQL gateway for music."""
