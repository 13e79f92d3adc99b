export async function runDemo(_opts: { port: number }): Promise<void> {
  throw new Error('demo: not written yet');
}
export async function runStandaloneEmulator(_opts: unknown): Promise<void> {
  throw new Error('emulator: not written yet');
}
