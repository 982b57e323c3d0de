/// <reference types="vite-plugin-pwa/client" />
// The page as an installable, offline web app: registers the service worker that vite-plugin-pwa builds
// (it precaches every file of the built site; see vite.config.ts) and tells the model card whether this
// page can open without a network. The models and data it loads are stored apart (stored-files.ts).
import { registerSW } from 'virtual:pwa-register';

/** Read by the offline end-to-end test as window.__offline. */
export const offlineProbe = { registered: false, offlineReady: false, controlled: false, error: '' };
(window as unknown as { __offline: typeof offlineProbe }).__offline = offlineProbe;

/** Whether this page opens without a network: a service worker serves it, or has just precached it. */
export const pageWorksOffline = () => offlineProbe.controlled || offlineProbe.offlineReady;

export function wireOffline(changed: () => void): void {
  offlineProbe.controlled = !!navigator.serviceWorker?.controller;
  if (!('serviceWorker' in navigator)) return;
  registerSW({
    immediate: true,
    onRegisteredSW: () => {
      offlineProbe.registered = true;
      changed();
    },
    onOfflineReady: () => {
      offlineProbe.offlineReady = true;
      changed();
    },
    onRegisterError: (e: Error) => {
      offlineProbe.error = String(e?.message ?? e);
      changed();
    },
  });
}
