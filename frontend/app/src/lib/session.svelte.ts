// Who is signed in and what this relay allows, fetched once per page load (Boot query).
import { request } from './api';
import { BootDocument, LogoutDocument, type BootQuery } from './graphql/generated';

class Session {
  viewer = $state<BootQuery['viewer']>(null);
  instance = $state<BootQuery['instance'] | null>(null);
  ready = $state(false);
  error = $state<unknown>(null);

  async load(): Promise<void> {
    try {
      const data = await request(BootDocument);
      this.viewer = data.viewer;
      this.instance = data.instance;
      this.error = null;
    } catch (error) {
      this.error = error;
    } finally {
      this.ready = true;
    }
  }

  async signOut(): Promise<void> {
    await request(LogoutDocument);
    this.viewer = null;
  }
}

export const session = new Session();
