// The one way the app talks to relay: GraphQL over HTTP (queries, mutations, multipart uploads
// with progress) and graphql-transport-ws (subscriptions). Errors come back as ApiError.
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { ApiError, type GraphQLErrorBody } from './errors';

const ENDPOINT = '/graphql';

interface Response<T> {
  data?: T | null;
  errors?: GraphQLErrorBody[];
}

function unwrap<T>(status: number, body: Response<T> | null): T {
  if (body?.errors?.length) throw ApiError.fromGraphQL(body.errors[0]!, status);
  if (body?.data == null) throw new ApiError('INTERNAL', `relay answered ${status} without data`);
  return body.data;
}

export async function request<T, V>(doc: TypedDocumentNode<T, V>, variables?: V): Promise<T> {
  let response: globalThis.Response;
  try {
    response = await fetch(ENDPOINT, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ query: print(doc), variables: variables ?? {} })
    });
  } catch {
    throw ApiError.network();
  }
  let body: Response<T> | null = null;
  try {
    body = (await response.json()) as Response<T>;
  } catch {
    throw new ApiError('INTERNAL', `relay answered ${response.status} with something not JSON`);
  }
  return unwrap(response.status, body);
}

export interface UploadHandle<T> {
  done: Promise<T>;
  abort: () => void;
}

/**
 * A GraphQL multipart request (graphql-multipart-request-spec) sent with XMLHttpRequest, the one
 * browser API that reports upload progress: `onProgress(sent, total)` is called as bytes leave.
 */
export function upload<T, V>(
  doc: TypedDocumentNode<T, V>,
  variables: V,
  filePath: string,
  file: File,
  onProgress: (sent: number, total: number) => void,
  extra: Record<string, File> = {}
): UploadHandle<T> {
  const xhr = new XMLHttpRequest();
  const form = new FormData();
  form.append('operations', JSON.stringify({ query: print(doc), variables }));
  // The file at `filePath`, and any more by their variable paths (e.g. the artwork).
  const paths = [filePath, ...Object.keys(extra)];
  form.append('map', JSON.stringify(Object.fromEntries(paths.map((path, i) => [String(i), [path]]))));
  form.append('0', file, file.name);
  Object.values(extra).forEach((more, i) => form.append(String(i + 1), more, more.name));
  const done = new Promise<T>((resolve, reject) => {
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    };
    xhr.onload = () => {
      let body: Response<T> | null = null;
      try {
        body = JSON.parse(xhr.responseText) as Response<T>;
      } catch {
        reject(new ApiError('INTERNAL', `relay answered ${xhr.status} with something not JSON`));
        return;
      }
      try {
        resolve(unwrap(xhr.status, body));
      } catch (error) {
        reject(error);
      }
    };
    xhr.onerror = () => reject(ApiError.network());
    xhr.onabort = () => reject(new ApiError('ABORTED', 'upload cancelled'));
  });
  xhr.open('POST', ENDPOINT);
  xhr.withCredentials = true;
  // relay refuses multipart requests without it (a CSRF guard browsers cannot forge cross-site).
  xhr.setRequestHeader('Apollo-Require-Preflight', 'true');
  xhr.send(form);
  return { done, abort: () => xhr.abort() };
}

let wsClient: Client | null = null;

function ws(): Client {
  if (wsClient === null) {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    wsClient = createClient({
      url: `${scheme}://${location.host}${ENDPOINT}`,
      lazy: true,
      retryAttempts: Infinity,
      shouldRetry: () => true
    });
  }
  return wsClient;
}

/** Follow a subscription until the returned function is called. */
export function subscribe<T, V>(
  doc: TypedDocumentNode<T, V>,
  variables: V,
  onData: (data: T) => void
): () => void {
  return ws().subscribe<T>(
    { query: print(doc), variables: variables as Record<string, unknown> },
    {
      next: (value) => {
        if (value.data) onData(value.data as T);
      },
      error: () => {},
      complete: () => {}
    }
  );
}
