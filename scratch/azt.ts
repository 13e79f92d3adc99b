import { TableClient } from '@azure/data-tables';
import { startAzurite } from '../tools/azurite/azurite';
(async () => {
  const a = await startAzurite();
  const c = TableClient.fromConnectionString(a.connectionString, 'TestLease', { allowInsecureConnection: true });
  await c.createTable();
  const r = await c.createEntity({ partitionKey: 'p', rowKey: 'r', x: 1 });
  console.log('create', r);
  let date: string | undefined;
  const e = await c.getEntity('p', 'r', { onResponse: (raw) => { date = raw.headers.get('date'); } });
  console.log('get', e, 'date', date);
  const b = await c.submitTransaction([['update', { partitionKey: 'p', rowKey: 'r', x: 2 }, 'Merge', { etag: e.etag }]]);
  console.log('tx', b.subResponses);
  try { await c.submitTransaction([['update', { partitionKey: 'p', rowKey: 'r', x: 3 }, 'Merge', { etag: e.etag }]]); } catch (err) { console.log('stale etag', (err as any).statusCode, (err as any).code); }
  await a.stop();
})();
