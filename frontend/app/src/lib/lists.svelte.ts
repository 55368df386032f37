// The signed-in person's playlists and albums (for "add to playlist" menus), loaded once and kept
// current by the changes this page makes.
import { request } from './api';
import {
  CreateListDocument,
  ListsDocument,
  UpdateListDocument,
  type ListFieldsFragment
} from './graphql/generated';

/** A track's global ID (relay's Node IDs: base64 of "Track:<AT-URI>"). */
export function trackId(uri: string): string {
  return btoa(`Track:${uri}`);
}

export function listHref(uri: string): string {
  return `/list?uri=${encodeURIComponent(uri)}`;
}

export function kindOf(listType: string): string {
  return listType === 'album' ? 'Album' : listType === 'playlist' ? 'Playlist' : 'List';
}

class MyLists {
  lists = $state<ListFieldsFragment[]>([]);
  loadedFor = $state<string | null>(null);

  async load(did: string): Promise<void> {
    if (this.loadedFor === did) return;
    const data = await request(ListsDocument, { first: 100, where: { ownerDid: did } });
    this.lists = data.lists.edges.map((edge) => edge.node);
    this.loadedFor = did;
  }

  /** Append a track to one of the person's lists. */
  async add(list: ListFieldsFragment, trackUri: string): Promise<void> {
    const data = await request(UpdateListDocument, {
      uri: list.uri,
      input: { add: [trackId(trackUri)] }
    });
    this.replace(data.updateList);
  }

  async create(name: string, listType: string, trackUris: string[]): Promise<ListFieldsFragment> {
    const data = await request(CreateListDocument, {
      input: { name, listType, items: trackUris.map(trackId) }
    });
    this.lists = [data.createList, ...this.lists];
    return data.createList;
  }

  replace(list: ListFieldsFragment): void {
    this.lists = this.lists.map((l) => (l.uri === list.uri ? list : l));
  }

  forget(uri: string): void {
    this.lists = this.lists.filter((l) => l.uri !== uri);
  }
}

export const myLists = new MyLists();
