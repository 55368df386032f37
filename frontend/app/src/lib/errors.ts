// relay's errors in words a person understands. Codes come from relay's error tree
// (extensions.code); BAD_USER_INPUT messages are written for people already.

export interface GraphQLErrorBody {
  message: string;
  extensions?: { code?: string };
}

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string
  ) {
    super(message);
  }

  static fromGraphQL(error: GraphQLErrorBody, status: number): ApiError {
    const code = error.extensions?.code ?? (status === 413 ? 'PAYLOAD_TOO_LARGE' : 'INTERNAL');
    return new ApiError(code, error.message);
  }

  static network(): ApiError {
    return new ApiError('NETWORK', 'could not reach relay');
  }
}

export function megabytes(bytes: number): string {
  return `${Math.round(bytes / (1024 * 1024))} MB`;
}

/** One sentence for the person in front of the screen. */
export function describe(error: unknown, context: { maxUploadBytes?: number } = {}): string {
  if (!(error instanceof ApiError)) return 'Something went wrong in the app. Please reload the page.';
  switch (error.code) {
    case 'PAYLOAD_TOO_LARGE':
      return context.maxUploadBytes
        ? `This file is too large: relay accepts files up to ${megabytes(context.maxUploadBytes)}.`
        : 'This file is too large for relay.';
    case 'BAD_USER_INPUT':
      return sentence(error.message);
    case 'UNAUTHENTICATED':
      return 'Your session has ended. Please sign in again.';
    case 'FORBIDDEN':
      return sentence(error.message);
    case 'NOT_FOUND':
      return 'That track no longer exists.';
    case 'CONFLICT':
      return 'The record changed on your PDS since relay last saw it. Reload and try again.';
    case 'UPSTREAM_UNAVAILABLE':
      return 'Your PDS is unavailable right now. relay keeps the track and retries on its own.';
    case 'NETWORK':
      return 'Could not reach relay. Check your connection and try again.';
    case 'ABORTED':
      return 'Upload cancelled.';
    default:
      return 'Something went wrong on relay’s side. Please try again in a moment.';
  }
}

export function sentence(text: string): string {
  const trimmed = text.trim();
  if (!trimmed) return 'That did not work.';
  const first = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}
