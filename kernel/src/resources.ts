// What the kernel started and must stop: brokers, producers, clusters, child processes. Shutdown (and SIGTERM)
// stops them all, newest first, each bounded in time, whatever the others do.

/** One thing to stop. */
export interface Resource {
  readonly name: string;
  stop(): Promise<void>;
}

/** The set of what this kernel owns. */
export class Resources {
  readonly #items = new Set<Resource>();

  /** Adds `resource`; the returned function forgets it (after the owner stopped it itself). */
  add(resource: Resource): () => void {
    this.#items.add(resource);
    return () => this.#items.delete(resource);
  }

  get names(): string[] {
    return [...this.#items].map((r) => r.name);
  }

  /** Stops everything, newest first; returns what failed or timed out. Idempotent. */
  async stopAll(timeoutMs = 40_000): Promise<string[]> {
    const failures: string[] = [];
    for (const resource of [...this.#items].reverse()) {
      this.#items.delete(resource);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`did not stop within ${timeoutMs / 1000} s`)), timeoutMs);
      });
      try {
        await Promise.race([resource.stop(), timeout]);
      } catch (err) {
        failures.push(`${resource.name}: ${(err as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
    }
    return failures;
  }
}
