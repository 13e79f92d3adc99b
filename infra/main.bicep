// azd entry point (`azd up` / `azd provision`): creates the resource group and deploys resources.bicep
// into it. Parameters come from main.parameters.json, which maps every app setting to the azd environment value
// of the same name (azd env set SYNC_SCHEDULE_RISK_DETECTIONS '0 */5 * * * *') and the deployment choices to
// RISK_SYNC_* values.
// Without azd: az deployment sub create -l <region> -f infra/main.bicep -p environmentName=<name> location=<region>
// or deploy infra/resources.bicep into an existing resource group (see docs/deploy.md).
targetScope = 'subscription'

import { appSettingOverrides } from 'app/types.bicep'

@minLength(1)
@maxLength(64)
@description('Name of the environment (azd environment name); used for the resource group name, resource names and the azd-env-name tag.')
param environmentName string

@minLength(1)
@description('Azure region for all resources. With hostingPlan flex it must offer Flex Consumption (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group name. Default: rg-<environmentName>.')
param resourceGroupName string = ''

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

@description('Premium only: object id of who uploads the deployment package (gets Storage Blob Data Contributor on the package container). azd maps the signed-in principal. Empty: none.')
param packagePublisherPrincipalId string = ''

@description('Type of packagePublisherPrincipalId.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param packagePublisherPrincipalType string = 'User'

// ---------------- the app's settings ----------------

@description('The app\'s own settings (src/config/settings.ts), by name, over the defaults of infra/app-settings.json; empty values keep the default. main.parameters.json maps each to the azd environment value of the same name.')
param appSettings appSettingOverrides = {}

var tags = {
  'azd-env-name': environmentName
}
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))

resource rg 'Microsoft.Resources/resourceGroups@2022-09-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: location
  tags: tags
}

module resources 'resources.bicep' = {
  name: 'entra-risk-sync'
  scope: rg
  params: {
    environmentName: environmentName
    location: location
    resourceToken: resourceToken
    tags: tags
    hostingPlan: hostingPlan
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    logRetentionDays: logRetentionDays
    storageRedundancy: storageRedundancy
    dataLock: dataLock
    tableRoleScope: tableRoleScope
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: operatorPrincipalType
    packagePublisherPrincipalId: packagePublisherPrincipalId
    packagePublisherPrincipalType: packagePublisherPrincipalType
    appSettings: appSettings
  }
}

// azd stores these in the environment (azd env get-values); hooks receive them as environment variables.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = resources.outputs.tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = resources.outputs.functionAppName
output AZURE_FUNCTION_APP_URL string = resources.outputs.functionAppUrl
output AZURE_STORAGE_ACCOUNT_NAME string = resources.outputs.storageAccountName
output AZURE_DEPLOYMENT_CONTAINER_NAME string = resources.outputs.deploymentContainerName
output AZURE_HOSTING_PLAN string = hostingPlan
output AZURE_FUNCTION_PACKAGE_URL string = resources.outputs.packageUrl
output TABLES_ENDPOINT string = resources.outputs.tablesEndpoint
output MANAGED_IDENTITY_PRINCIPAL_ID string = resources.outputs.managedIdentityPrincipalId
output MANAGED_IDENTITY_CLIENT_ID string = resources.outputs.managedIdentityClientId
output MANAGED_IDENTITY_NAME string = resources.outputs.managedIdentityName
output GRAPH_CLOUD string = resources.outputs.graphCloud
output AZURE_APPLICATION_INSIGHTS_NAME string = resources.outputs.applicationInsightsName
output AZURE_LOG_ANALYTICS_WORKSPACE_NAME string = resources.outputs.logAnalyticsWorkspaceName
