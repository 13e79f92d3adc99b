"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
const data_tables_1 = require("@azure/data-tables");
const azurite_1 = require("../tools/azurite/azurite");
(async () => {
    const a = await (0, azurite_1.startAzurite)();
    const c = data_tables_1.TableClient.fromConnectionString(a.connectionString, 'TestLease', { allowInsecureConnection: true });
    await c.createTable();
    const r = await c.createEntity({ partitionKey: 'p', rowKey: 'r', x: 1 });
    console.log('create', r);
    let date;
    const e = await c.getEntity('p', 'r', { onResponse: (raw) => { date = raw.headers.get('date'); } });
    console.log('get', e, 'date', date);
    const b = await c.submitTransaction([['update', { partitionKey: 'p', rowKey: 'r', x: 2 }, 'Merge', { etag: e.etag }]]);
    console.log('tx', b.subResponses);
    try {
        await c.submitTransaction([['update', { partitionKey: 'p', rowKey: 'r', x: 3 }, 'Merge', { etag: e.etag }]]);
    }
    catch (err) {
        console.log('stale etag', err.statusCode, err.code);
    }
    await a.stop();
})();
