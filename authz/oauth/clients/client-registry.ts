import type { ClientConfig } from '../../../config/types.js';

/** The clients from the config, looked up by id. Replaced whole on reload, never mutated. */
export class ClientRegistry {
  private readonly byId: ReadonlyMap<string, ClientConfig>;

  constructor(clients: readonly ClientConfig[]) {
    this.byId = new Map(clients.map((c) => [c.client_id, c]));
  }

  get(clientId: string): ClientConfig | undefined {
    return this.byId.get(clientId);
  }

  all(): ClientConfig[] {
    return [...this.byId.values()];
  }
}
