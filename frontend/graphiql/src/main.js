// GraphiQL wired to relay: queries and mutations over HTTP (the session cookie rides along),
// subscriptions over graphql-transport-ws on the same origin. Schema by introspection.
import { createElement } from 'react'
import { createRoot } from 'react-dom/client'
import { GraphiQL } from 'graphiql'
import { explorerPlugin } from '@graphiql/plugin-explorer'
import { createGraphiQLFetcher } from '@graphiql/toolkit'
import { createClient } from 'graphql-ws'
import 'graphiql/graphiql.css'
import '@graphiql/plugin-explorer/style.css'

const origin = window.location.origin
const fetcher = createGraphiQLFetcher({
  url: `${origin}/graphql`,
  wsClient: createClient({ url: `${origin.replace(/^http/, 'ws')}/graphql` }),
})

const defaultQuery = `# relay's GraphQL API. Sign in at / (ATProto OAuth) or send
# "Authorization: Bearer <token>" from the login mutation in the headers pane.

query LatestTracks {
  tracks(first: 10) {
    totalCount
    edges { node { title artist album duration fileType playable audioUrl uri } }
    pageInfo { hasNextPage endCursor }
  }
}

query Me {
  viewer { did handle pdsUrl }
}

subscription LiveTracks {
  trackEvents { kind uri track { title artist } }
}
`

createRoot(document.getElementById('graphiql')).render(
  createElement(GraphiQL, {
    fetcher,
    defaultQuery,
    plugins: [explorerPlugin()],
    shouldPersistHeaders: false,
  }),
)
