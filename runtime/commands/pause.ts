// `trun pause` / `trun resume`: freeze and thaw every process of the container (stub).
import type { Context } from '../context';
import { TrunError } from '../errors';

export async function pauseContainer(_ctx: Context, id: string): Promise<void> {
  throw new TrunError('EINVAL', 'pause is not implemented yet', { id });
}

export async function resumeContainer(_ctx: Context, id: string): Promise<void> {
  throw new TrunError('EINVAL', 'resume is not implemented yet', { id });
}
