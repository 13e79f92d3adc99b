/** Process-level checks of the reliability suite: unhandled rejections and uncaught errors, handles left open. */
export interface UnhandledWatch {
  reasons: string[];
  stop(): void;
}

export function watchUnhandled(): UnhandledWatch {
  const reasons: string[] = [];
  const onRejection = (reason: unknown) => reasons.push(`unhandled rejection: ${(reason as Error)?.stack ?? String(reason)}`);
  const onException = (error: Error) => reasons.push(`uncaught exception: ${error.stack ?? String(error)}`);
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return {
    reasons,
    stop: () => {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
    },
  };
}

/** Handles still open besides the ones any Node process has (stdio, the soak's own timer). */
export function leftoverResources(): string[] {
  const ignored = new Set(['TTYWrap', 'PipeWrap', 'FSReqCallback', 'StatWatcher']);
  const info = (process as unknown as { getActiveResourcesInfo?: () => string[] }).getActiveResourcesInfo?.() ?? [];
  return info.filter((r) => !ignored.has(r));
}
