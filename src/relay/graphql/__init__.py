"""The GraphQL edge: types, resolvers and error codes. Resolvers only call services."""
