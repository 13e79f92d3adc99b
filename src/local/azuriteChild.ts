/**
 * Runs Azurite's table service as a child that dies with its parent: when the parent goes away (even by SIGKILL),
 * our stdin closes and we exit, so no emulator is ever left behind.
 */
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
const main = require.resolve('azurite/dist/src/table/main.js');
process.argv = [process.argv[0]!, main, ...process.argv.slice(2)];
require(main);
