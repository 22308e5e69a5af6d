// trun-bundle mount BUNDLE: mount a bundle's rootfs again, e.g. after a reboot.
import { mountBundle } from '../lib/bundle';
import { Store } from '../lib/store';

export function mount(c: { bundle: string; store?: string }): void {
  mountBundle(c.bundle, c.store !== undefined ? new Store(c.store) : undefined);
}
