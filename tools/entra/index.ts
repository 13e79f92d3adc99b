/** The Entra ID token endpoint emulator: public API (see ./server.ts). */
export { startEntraEmulator, type EntraApp, type EntraEmulator, type EntraEmulatorOptions, type EntraRequest, type EntraTenant } from './server.js';
export { entraError, AADSTS, type EntraError } from './errors.js';
