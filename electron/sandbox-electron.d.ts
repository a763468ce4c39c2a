/**
 * What a sandboxed preload may use of Electron, typed for the preload's own
 * compilation (tsconfig.preload.json maps `electron` here). Electron's full
 * typings pull in Node's, and a sandboxed preload has no Node: with only
 * this surface, code that reaches for Node or the main-process API in the
 * preload does not compile. The shapes are those of Electron's
 * contextBridge and ipcRenderer, reduced to what preload.ts uses.
 */
export interface IpcRendererEvent {
  readonly sender: unknown;
}

export interface IpcRenderer {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  on(channel: string, listener: (event: IpcRendererEvent, ...args: any[]) => void): this;
  removeListener(channel: string, listener: (...args: any[]) => void): this;
}

export interface ContextBridge {
  exposeInMainWorld(apiKey: string, api: unknown): void;
}

export declare const ipcRenderer: IpcRenderer;
export declare const contextBridge: ContextBridge;
