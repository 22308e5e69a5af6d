// `trun update`: change a running container's resource limits, in the live cgroup and in the
// config kept in state.json (so later updates merge with what is really in force).
import type { LinuxResources } from '../../spec/types/runtime';
import { validateConfigSchema } from '../../spec/validate';
import { cgroupOf, statusOf } from '../container';
import type { Context } from '../context';
import { storeOf } from '../context';
import { TrunError } from '../errors';
import { type UpdateFlags, planUpdate, requestedResources } from '../update-resources';

export interface UpdateOptions {
  id: string;
  /** Parsed from --resources (a file, or "-" for stdin: the CLI reads it). */
  resources?: LinuxResources;
  /** runc's single-value flags, as given on the command line (strings: sizes like "256m" are allowed for memory). */
  flags: UpdateFlags;
}

/** Checks the request against the runtime-spec schema, by the name the caller gave it. */
function validateResources(r: LinuxResources): void {
  try {
    validateConfigSchema({ ociVersion: '1.0.0', linux: { resources: r } }, '--resources');
  } catch (e) {
    if (e instanceof TrunError) throw new TrunError('EINVAL', e.message.replace('linux.resources.', ''), { cause: e });
    throw e;
  }
}

export async function updateContainer(ctx: Context, opts: UpdateOptions): Promise<void> {
  // Everything that can be refused is refused before the cgroup is touched.
  const requested = requestedResources(opts.resources, opts.flags);
  validateResources(requested);
  const store = storeOf(ctx);
  const release = await store.lock(opts.id);
  try {
    const st = store.load(opts.id);
    if (statusOf(st, store) === 'stopped') throw new TrunError('ENOTRUNNING', 'container not running', { id: opts.id });
    const current = st.config.linux?.resources;
    const plan = planUpdate(current, requested);
    if (plan.ignoredDevices) ctx.warn('update: linux.resources.devices cannot be changed on a live container: ignored');
    const cgroup = cgroupOf(st);
    try {
      for (const w of cgroup.apply(plan.apply)) ctx.warn(w);
    } catch (e) {
      // Some settings may be written already: as runc, put back what state.json says (best effort).
      try {
        const { devices: _kept, ...before } = current ?? {};
        cgroup.apply(before);
      } catch (back) {
        ctx.warn(`setting back cgroup configs failed due to error: ${(back as Error).message}, your state.json and actual configs might be inconsistent`);
      }
      throw e;
    }
    st.config.linux = { ...st.config.linux, resources: plan.store };
    store.save(st);
  } finally {
    release();
  }
}
