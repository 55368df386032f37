// The persistent player's state. Player.svelte owns the <audio> element; pages call play(list, i).
import type { TrackFieldsFragment } from './graphql/generated';

export type PlayerTrack = TrackFieldsFragment;

class PlayerState {
  queue = $state<PlayerTrack[]>([]);
  index = $state(-1);
  playing = $state(false);
  position = $state(0);
  duration = $state(0);
  buffering = $state(false);
  error = $state<string | null>(null);
  element: HTMLAudioElement | null = null;

  current = $derived<PlayerTrack | null>(this.queue[this.index] ?? null);

  /** Play `list[index]`; next/previous then walk `list` (the list the person was looking at). */
  play(list: PlayerTrack[], index: number): void {
    const track = list[index];
    if (!track || !track.playable) return;
    if (this.current?.uri === track.uri) {
      this.toggle();
      return;
    }
    this.queue = [...list];
    this.index = index;
    this.load(track);
  }

  private load(track: PlayerTrack): void {
    const audio = this.element;
    this.error = null;
    this.position = 0;
    this.duration = track.duration ?? 0;
    if (!audio) return;
    audio.src = track.audioUrl;
    void audio.play().catch(() => {
      // autoplay refusals and decode errors surface through the element's error event
    });
  }

  toggle(): void {
    const audio = this.element;
    if (!audio || !this.current) return;
    if (audio.paused) void audio.play().catch(() => {});
    else audio.pause();
  }

  seek(seconds: number): void {
    const audio = this.element;
    if (!audio || !this.current) return;
    const end = Number.isFinite(audio.duration) ? audio.duration : this.duration;
    audio.currentTime = Math.max(0, Math.min(seconds, end || seconds));
    this.position = audio.currentTime;
  }

  private step(direction: 1 | -1): void {
    for (let i = this.index + direction; i >= 0 && i < this.queue.length; i += direction) {
      const track = this.queue[i];
      if (track?.playable) {
        this.index = i;
        this.load(track);
        return;
      }
    }
  }

  next(): void {
    this.step(1);
  }

  previous(): void {
    // Like every player: restart the track unless it has only just begun.
    if (this.position > 3) this.seek(0);
    else this.step(-1);
  }

  get hasNext(): boolean {
    return this.queue.slice(this.index + 1).some((t) => t.playable);
  }

  get hasPrevious(): boolean {
    return this.index > 0 || this.position > 3;
  }

  /** Keep the queue in step with edits and deletions seen elsewhere in the app. */
  updated(track: PlayerTrack): void {
    this.queue = this.queue.map((t) => (t.uri === track.uri ? { ...t, ...track } : t));
  }
}

export const player = new PlayerState();
