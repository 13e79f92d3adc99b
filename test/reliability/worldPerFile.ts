import { watchUnhandled, type UnhandledWatch } from './process';
import { startWorld, type World } from './world';

/** One world for a test file and a watch on unhandled rejections, both closed after the file's tests. */
export function worldPerFile(): { world: () => World; unhandled: UnhandledWatch } {
  let world: World | undefined;
  const unhandled = watchUnhandled();
  beforeAll(async () => {
    world = await startWorld();
  });
  afterAll(async () => {
    await world?.close();
    unhandled.stop();
  });
  return { world: () => world!, unhandled };
}
