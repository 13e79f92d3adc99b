"use strict";
var __importDefault = (this && this.__importDefault) || function (mod) {
    return (mod && mod.__esModule) ? mod : { "default": mod };
};
Object.defineProperty(exports, "__esModule", { value: true });
exports.AZURITE_KEY = exports.AZURITE_ACCOUNT = void 0;
exports.azuriteConnectionString = azuriteConnectionString;
exports.freePort = freePort;
exports.startAzurite = startAzurite;
const node_child_process_1 = require("node:child_process");
const node_fs_1 = require("node:fs");
const node_net_1 = require("node:net");
const node_os_1 = require("node:os");
const node_path_1 = __importDefault(require("node:path"));
/** Azurite's well-known development account (public, documented; not a secret). */
exports.AZURITE_ACCOUNT = 'devstoreaccount1';
exports.AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
function azuriteConnectionString(port) {
    return `DefaultEndpointsProtocol=http;AccountName=${exports.AZURITE_ACCOUNT};AccountKey=${exports.AZURITE_KEY};TableEndpoint=http://127.0.0.1:${port}/${exports.AZURITE_ACCOUNT};`;
}
function freePort() {
    return new Promise((resolve, reject) => {
        const server = (0, node_net_1.createServer)();
        server.unref();
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => {
            const { port } = server.address();
            server.close(() => resolve(port));
        });
    });
}
/** Starts Azurite's table service in memory on a free loopback port, telemetry off. */
async function startAzurite(options = {}) {
    for (let attempt = 1;; attempt++) {
        const port = options.port ?? (await freePort());
        try {
            return await launch(port);
        }
        catch (error) {
            if (options.port !== undefined || attempt >= 5 || !String(error.message).includes('EADDRINUSE'))
                throw error;
        }
    }
}
/**
 * Azurite's table service as a child that dies with its parent: when the parent goes away (even by SIGKILL), the
 * child's stdin closes and it exits, so no emulator is ever left behind.
 */
const CHILD = `
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
const main = require.resolve('azurite/dist/src/table/main.js', { paths: [process.env.AZURITE_RESOLVE_FROM] });
process.argv = [process.argv[0], main, ...process.argv.slice(1)];
require(main);
`;
async function launch(port) {
    const workspace = (0, node_fs_1.mkdtempSync)(node_path_1.default.join((0, node_os_1.tmpdir)(), 'azurite-'));
    const child = (0, node_child_process_1.spawn)(process.execPath, [
        '-e',
        CHILD,
        '--',
        '--inMemoryPersistence',
        '--disableTelemetry',
        '--skipApiVersionCheck',
        '--loose',
        '--tableHost',
        '127.0.0.1',
        '--tablePort',
        String(port),
    ], { stdio: ['pipe', 'pipe', 'pipe'], cwd: workspace, env: { ...process.env, AZURITE_RESOLVE_FROM: __dirname } });
    let output = '';
    await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`Azurite did not start within 30 s: ${output}`)), 30_000);
        const onData = (data) => {
            output += data.toString();
            if (/successfully (listening|started)/i.test(output)) {
                clearTimeout(timer);
                resolve();
            }
            else if (/EADDRINUSE|error/i.test(output)) {
                clearTimeout(timer);
                reject(new Error(`Azurite failed to start on port ${port}: ${output.trim()}`));
            }
        };
        child.stdout.on('data', onData);
        child.stderr.on('data', onData);
        child.once('exit', (code) => {
            clearTimeout(timer);
            reject(new Error(`Azurite exited with ${code}: ${output.trim()}`));
        });
    });
    child.stdout.removeAllListeners('data').resume();
    child.stderr.removeAllListeners('data').resume();
    child.removeAllListeners('exit');
    return {
        port,
        connectionString: azuriteConnectionString(port),
        process: child,
        stop: async () => {
            if (child.exitCode === null && child.signalCode === null) {
                const exited = new Promise((resolve) => child.once('exit', () => resolve()));
                child.kill('SIGTERM');
                const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
                await exited;
                clearTimeout(timer);
            }
            child.stdin?.destroy();
            (0, node_fs_1.rmSync)(workspace, { recursive: true, force: true });
        },
    };
}
