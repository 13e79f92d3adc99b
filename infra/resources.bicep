// Everything entra-risk-sync needs, in one resource group. main.bicep (azd, subscription scope) creates the
// resource group and deploys this file into it; without azd, deploy this file directly:
//   az deployment group create -g <resource-group> -f infra/resources.bicep -p environmentName=<name>
// The app's settings are one object: the defaults of infra/app-settings.json (generated from
// src/config/settings.ts SETTINGS by scripts/infra-settings.js) with the appSettings parameter merged over them.
targetScope = 'resourceGroup'

import { appSettingOverrides } from 'app/types.bicep'

@minLength(1)
@maxLength(64)
@description('Name of the environment (azd environment name); part of resource names and the azd-env-name tag.')
param environmentName string

@description('Azure region for all resources. With hostingPlan flex it must offer Flex Consumption (az functionapp list-flexconsumption-locations).')
param location string = resourceGroup().location

@description('Suffix that makes resource names unique. Default: derived from subscription, resource group, environment and location.')
param resourceToken string = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName, location))

@description('Tags for every resource (azd-env-name is added).')
param tags object = {}

// ---------------- hosting ----------------

@description('Hosting plan. flex: Flex Consumption (FC1, pay per use; not offered in Azure Government). premium: Elastic Premium EP1 (one instance always on; offered in Azure Government; azd deploy is replaced by a package upload, see docs/deploy.md).')
@allowed([
  'flex'
  'premium'
])
param hostingPlan string = 'flex'

@description('Flex Consumption only: memory of each instance in MB (billed per GB-second of this size).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances of each function group (Flex Consumption: the HTTP functions, the timer and the queue function each scale on their own instances) or of the app (Premium). 1 keeps on-demand runs on one instance; see docs/deploy.md.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 1

@description('Log Analytics retention in days.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

// ---------------- the data ----------------

@description('Replication of the storage account that holds the synced tables, which outlive Graph\'s retention: GZRS (zone- and geo-redundant, default), ZRS (zones, one region), GRS (geo, no zones), LRS (one datacenter; cheapest, for tests).')
@allowed([
  'GZRS'
  'ZRS'
  'GRS'
  'LRS'
])
param storageRedundancy string = 'GZRS'

@description('Management lock on the storage account: CanNotDelete (default; lift it before azd down, see docs/deploy.md) or None.')
@allowed([
  'CanNotDelete'
  'None'
])
param dataLock string = 'CanNotDelete'

@description('Scope of the table roles: table (each table the settings name; the template creates them) or account (every table of the account, should a table-scoped role ever not let the app start).')
@allowed([
  'table'
  'account'
])
param tableRoleScope string = 'table'

// ---------------- people ----------------

@description('Optional: object id of the person or service principal that runs the risk-sync CLI against the tables (gets Storage Table Data Contributor on them). Empty: none.')
param operatorPrincipalId string = ''

@description('Type of operatorPrincipalId.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param operatorPrincipalType string = 'User'

@description('Premium only: object id of who uploads the deployment package (gets Storage Blob Data Contributor on the package container). Empty: none.')
param packagePublisherPrincipalId string = ''

@description('Type of packagePublisherPrincipalId.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param packagePublisherPrincipalType string = 'User'

// ---------------- the app's settings ----------------

@description('The app\'s own settings (src/config/settings.ts), by name, over the defaults of infra/app-settings.json; empty values keep the default.')
param appSettings appSettingOverrides = {}

// The defaults of every setting the deployment sets (secrets and local-only switches are not in the file).
var settingDefaults = loadJsonContent('app-settings.json').settings
// Empty overrides keep the default (azd passes every mapped setting, set or not). settingDefaults[s.key] fails the
// deployment with "The language expression property '<name>' doesn't exist" when an override names no setting of
// the app (a misspelt name), instead of deploying a setting the app never reads.
var settingOverrides = toObject(filter(items(appSettings), s => !empty(s.value)), s => s.key, s => '${s.value}${take(settingDefaults[s.key], 0)}')
var settings = union(settingDefaults, settingOverrides)

var allTags = union(tags, { 'azd-env-name': environmentName })
var effectiveTenantId = empty(settings.AZURE_TENANT_ID) ? subscription().tenantId : settings.AZURE_TENANT_ID
// Every TABLE_* setting names a table of the app: the template creates each one and scopes the table roles to it.
var tableNames = map(filter(items(settings), s => startsWith(s.key, 'TABLE_')), s => s.value)
var functionAppName = 'func-risk-${resourceToken}'
// Container names: 3-63 lowercase letters, digits and hyphens.
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(resourceToken, 7)}'

module identity 'app/identity.bicep' = {
  name: 'identity'
  params: {
    name: 'id-risk-${resourceToken}'
    location: location
    tags: allTags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  params: {
    name: 'strisk${take(resourceToken, 18)}'
    location: location
    tags: allTags
    redundancy: storageRedundancy
    dataLock: dataLock
    deploymentContainerName: deploymentContainerName
    tableNames: tableNames
    runsQueueName: settings.RUNS_QUEUE
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: 'log-risk-${resourceToken}'
    applicationInsightsName: 'appi-risk-${resourceToken}'
    location: location
    tags: allTags
    retentionInDays: logRetentionDays
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  params: {
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    appPrincipalId: identity.outputs.principalId
    tableNames: storage.outputs.tableNames
    tableRoleScope: tableRoleScope
    runsQueueName: storage.outputs.runsQueueName
    runsPoisonQueueName: storage.outputs.runsPoisonQueueName
    deploymentContainerName: storage.outputs.deploymentContainerName
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: operatorPrincipalType
    packagePublisherPrincipalId: hostingPlan == 'premium' ? packagePublisherPrincipalId : ''
    packagePublisherPrincipalType: packagePublisherPrincipalType
  }
}

module functionApp 'app/function-app.bicep' = {
  name: 'function-app'
  // The app reads its deployment package, host storage, tables and queue as soon as it starts: roles first.
  dependsOn: [
    rbac
  ]
  params: {
    name: functionAppName
    planName: 'plan-risk-${resourceToken}'
    location: location
    tags: allTags
    serviceName: 'api'
    hostingPlan: hostingPlan
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: storage.outputs.deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    tenantId: effectiveTenantId
    settings: settings
  }
}

output functionAppName string = functionApp.outputs.name
output functionAppUrl string = functionApp.outputs.url
output storageAccountName string = storage.outputs.name
output deploymentContainerName string = storage.outputs.deploymentContainerName
output runsQueueName string = storage.outputs.runsQueueName
output packageUrl string = functionApp.outputs.packageUrl
output tablesEndpoint string = functionApp.outputs.tableEndpoint
output managedIdentityPrincipalId string = identity.outputs.principalId
output managedIdentityClientId string = identity.outputs.clientId
output managedIdentityName string = identity.outputs.name
output tenantId string = effectiveTenantId
output graphCloud string = settings.GRAPH_CLOUD
output applicationInsightsName string = monitoring.outputs.applicationInsightsName
output logAnalyticsWorkspaceName string = monitoring.outputs.logAnalyticsWorkspaceName
