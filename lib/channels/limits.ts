/**
 * The limits of one channel session, checked once: the window granted per channel, the channels
 * in use at once, and the total of windows granted (what a peer can make us hold).
 */
import { CurvetunError } from '../errors.js';
import { DEFAULT_CHANNEL_WINDOW, DEFAULT_MAX_CHANNELS, DEFAULT_MAX_CHANNEL_BUFFERED_BYTES } from '../limits.js';
import { MAX_WINDOW } from './layout.js';

export interface ChannelLimits {
  /** Bytes the peer may have in flight towards us per channel (default 256 KiB). */
  window: number;
  /** Channels in use at once, opening, open or closing, both directions (default 1 024). */
  maxChannels: number;
  /**
   * The windows of all channels in use add up to at most this (default 64 MiB): with the default
   * window, 256 channels at once. Each channel also holds up to 16 KiB plus one frame in Node's
   * readable buffer.
   */
  maxBufferedBytes: number;
}

export const DEFAULT_CHANNEL_LIMITS: ChannelLimits = {
  window: DEFAULT_CHANNEL_WINDOW,
  maxChannels: DEFAULT_MAX_CHANNELS,
  maxBufferedBytes: DEFAULT_MAX_CHANNEL_BUFFERED_BYTES,
};

function positiveInteger(value: number | undefined, name: keyof ChannelLimits, max: number): number {
  if (value === undefined) return DEFAULT_CHANNEL_LIMITS[name];
  if (!Number.isInteger(value) || value < 1 || value > max) throw new CurvetunError('EINVAL', `${name} is an integer from 1 to ${max}`);
  return value;
}

/** The limits from the options, defaults for what they leave out; `EINVAL` for a bad value. */
export function checkedLimits(options: Partial<ChannelLimits>): ChannelLimits {
  const window = positiveInteger(options.window, 'window', MAX_WINDOW);
  const maxChannels = positiveInteger(options.maxChannels, 'maxChannels', 2 ** 30);
  const maxBufferedBytes = positiveInteger(options.maxBufferedBytes, 'maxBufferedBytes', Number.MAX_SAFE_INTEGER);
  if (maxBufferedBytes < window) throw new CurvetunError('EINVAL', 'maxBufferedBytes must hold at least one window');
  return { window, maxChannels, maxBufferedBytes };
}
