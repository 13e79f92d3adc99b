#!/usr/bin/env node
// A stand-in for the Azure CLI, just enough of it for infra/grant-graph-permissions.sh: `account show`,
// `cloud show` and `az rest` against the Microsoft Graph endpoints the script calls, answering the
// JMESPath queries the script uses. State (tenant, directory, assignments) lives in the JSON file named by
// FAKE_AZ_STATE; every invocation is appended to its `calls`, so tests can count GETs and POSTs.
'use strict';
const fs = require('node:fs');

const statePath = process.env.FAKE_AZ_STATE;
if (!statePath) {
  process.stderr.write('fake az: FAKE_AZ_STATE is not set\n');
  process.exit(2);
}
const state = JSON.parse(fs.readFileSync(statePath, 'utf8'));
const args = process.argv.slice(2);
state.calls.push(args);
const save = () => fs.writeFileSync(statePath, JSON.stringify(state, null, 2));

function option(name) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}
function out(value) {
  save();
  if (value !== undefined && value !== null && value !== '') process.stdout.write(`${value}\n`);
  process.exit(0);
}
function fail(message, code = 1) {
  save();
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

if (!state.loggedIn) fail("ERROR: Please run 'az login' to setup account.");

const [group, verb] = args;
if (group === 'account' && verb === 'show') out(state.tenant);
if (group === 'cloud' && verb === 'show') out(state.cloud);
if (group !== 'rest') fail(`fake az: unsupported command: ${args.join(' ')}`, 2);

const method = (option('--method') || 'get').toLowerCase();
const url = option('--url') || option('--uri') || '';
const resource = option('--resource');
const query = option('--query');
if (!resource || !url.startsWith(resource)) fail(`fake az: --resource '${resource}' does not match --url '${url}'`, 2);
if (!url.startsWith(state.graphRoot)) fail(`fake az: request to ${url}, expected ${state.graphRoot}`, 2);
const path = url.slice(state.graphRoot.length);

// GET /v1.0/servicePrincipals?$filter=appId eq '<graph app id>'&$select=...
if (method === 'get' && path.startsWith('/v1.0/servicePrincipals?')) {
  const filter = decodeURIComponent(path).match(/\$filter=appId eq '([^']+)'/);
  if (!filter || filter[1] !== '00000003-0000-0000-c000-000000000000') fail(`fake az: unexpected filter in ${path}`, 2);
  if (query === 'value[0].id') out(state.graphSpId);
  const role = query && query.match(/^value\[0\]\.appRoles\[\?value=='([^']+)' && contains\(allowedMemberTypes, 'Application'\)\]\.id \| \[0\]$/);
  if (role) out(state.roles[role[1]]);
  fail(`fake az: unsupported query '${query}' on ${path}`, 2);
}

// GET/POST /v1.0/servicePrincipals/{id}[/appRoleAssignments]
const sp = path.match(/^\/v1\.0\/servicePrincipals\/([0-9a-fA-F-]{36})(\/appRoleAssignments)?(\?.*)?$/);
if (sp) {
  const [, id, assignments] = sp;
  if (!state.principals.includes(id)) {
    fail(
      `Not Found({"error":{"code":"Request_ResourceNotFound","message":"Resource '${id}' does not exist or one of its queried reference-property objects are not present."}})`,
    );
  }
  if (!assignments && method === 'get') {
    if (query === 'displayName') out(`id-risk-${id.slice(0, 8)}`);
    fail(`fake az: unsupported query '${query}' on ${path}`, 2);
  }
  if (assignments && method === 'get') {
    if (query === '"@odata.nextLink"') out('');
    const byResource = query && query.match(/^value\[\?resourceId=='([^']+)'\]\.appRoleId$/);
    if (byResource) {
      out(
        state.assignments
          .filter((a) => a.principalId === id && a.resourceId === byResource[1])
          .map((a) => a.appRoleId)
          .join('\n'),
      );
    }
    fail(`fake az: unsupported query '${query}' on ${path}`, 2);
  }
  if (assignments && method === 'post') {
    if (state.forbidPost) {
      fail('Forbidden({"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}})');
    }
    const body = JSON.parse(option('--body'));
    if (body.principalId !== id) fail('fake az: principalId in the body differs from the URL', 2);
    if (body.resourceId !== state.graphSpId) fail('fake az: resourceId is not the Graph service principal', 2);
    if (!Object.values(state.roles).includes(body.appRoleId)) fail(`fake az: unknown appRoleId ${body.appRoleId}`, 2);
    if (state.assignments.some((a) => a.principalId === id && a.resourceId === body.resourceId && a.appRoleId === body.appRoleId)) {
      fail('Bad Request({"error":{"code":"Request_BadRequest","message":"Permission being assigned already exists on the object"}})');
    }
    const created = { id: `assignment-${state.assignments.length + 1}`, ...body };
    state.assignments.push(created);
    out(query === 'id' ? created.id : JSON.stringify(created));
  }
}
fail(`fake az: unsupported request ${method.toUpperCase()} ${url}`, 2);
