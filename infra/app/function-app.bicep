// Flex Consumption plan + the function app. The app runs as the user-assigned identity only: host storage,
// deployment package, tables, Application Insights and Graph all authenticate with it, no keys anywhere.
//
// App settings are in objects whose names end in AppSettings (tests read them):
//   hostStorageAppSettings  identity-based AzureWebJobsStorage (account name in public Azure, service URIs
//                           in sovereign clouds, where the account-name form cannot build the host names)
//   platformAppSettings     the rest of what the Functions host needs
//   syncAppSettings         the app's own settings: every name in src/config/settings.ts SETTINGS that the
//                           deployment controls. Secrets and testing-only settings (AZURE_CLIENT_SECRET,
//                           AZURE_CLIENT_CERTIFICATE_PATH, TABLES_CONNECTION_STRING, GRAPH_ENDPOINT) are
//                           deliberately absent.
// FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION, WEBSITE_RUN_FROM_PACKAGE, WEBSITE_TIME_ZONE and the
// content-share settings are not supported on Flex Consumption (runtime/scale live in functionAppConfig).

@description('Function app name (globally unique: <name>.azurewebsites.net).')
param name string

@description('Flex Consumption plan name.')
param planName string

@description('Azure region (must offer Flex Consumption: az functionapp list-flexconsumption-locations).')
param location string

@description('Tags for the plan.')
param tags object = {}

@description('Value of the azd-service-name tag: azd deploys the service of that name to this app.')
param serviceName string = 'api'

@description('Resource id of the user-assigned managed identity.')
param identityId string

@description('Client id of the user-assigned managed identity.')
param identityClientId string

@description('Storage account for host storage, deployment package and tables.')
param storageAccountName string

@description('Blob container that holds the deployment package.')
param deploymentContainerName string

@description('Application Insights component name.')
param applicationInsightsName string

@description('Node.js version of the Functions runtime.')
@allowed([
  '20'
  '22'
])
param nodeVersion string = '22'

@description('Memory of each instance in MB (billing is per GB-second of this size).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Upper bound on instances per function group. The timers are singletons; this only caps HTTP scale-out.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

// ---- the app's settings (names and meaning: src/config/settings.ts) ----
@description('AZURE_TENANT_ID: tenant synced and written on every row.')
param tenantId string
@description('GRAPH_CLOUD')
param graphCloud string
@description('GRAPH_MAX_RPS')
param graphMaxRps string
@description('GRAPH_MAX_RETRIES')
param graphMaxRetries string
@description('GRAPH_RETRY_BASE_MS')
param graphRetryBaseMs string
@description('GRAPH_REQUEST_TIMEOUT_SECONDS')
param graphRequestTimeoutSeconds string
@description('SYNC_LOOKBACK_MINUTES')
param syncLookbackMinutes string
@description('SYNC_INITIAL_DAYS (empty: read everything Graph still holds)')
param syncInitialDays string
@description('SYNC_TIME_BUDGET_SECONDS')
param syncTimeBudgetSeconds string
@description('SYNC_LEASE_SECONDS')
param syncLeaseSeconds string

@description('SYNC_CHECKPOINT_SECONDS')
param syncCheckpointSeconds string
@description('SYNC_SCHEDULE_RISK_DETECTIONS')
param syncScheduleRiskDetections string
@description('SYNC_SCHEDULE_RISKY_USERS')
param syncScheduleRiskyUsers string
@description('TABLE_RISK_DETECTIONS')
param tableRiskDetections string
@description('TABLE_RISKY_USERS')
param tableRiskyUsers string
@description('TABLE_SYNC_STATE')
param tableSyncState string
@description('TABLE_SYNC_RUNS')
param tableSyncRuns string
@description('SNAPSHOT_STALE_AFTER_RUNS')
param snapshotStaleAfterRuns string
@description('HTTP_AUTH_LEVEL')
param httpAuthLevel string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// The account's table endpoint without the trailing slash ARM returns (https://<account>.table.core.windows.net).
var rawTableEndpoint = storage.properties.primaryEndpoints.table
var tableEndpoint = endsWith(rawTableEndpoint, '/') ? substring(rawTableEndpoint, 0, length(rawTableEndpoint) - 1) : rawTableEndpoint

// Identity-based host storage. The account-name form builds *.core.windows.net host names, so it is used in
// public Azure only; sovereign clouds get the service URIs ARM reports for the account.
var publicCloudHostStorageAppSettings = {
  AzureWebJobsStorage__accountName: storage.name
}
var sovereignCloudHostStorageAppSettings = {
  AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
  AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
}
var hostStorageAppSettings = environment().name == 'AzureCloud' ? publicCloudHostStorageAppSettings : sovereignCloudHostStorageAppSettings

var platformAppSettings = {
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

var syncAppSettings = {
  AZURE_TENANT_ID: tenantId
  AZURE_CLIENT_ID: identityClientId
  GRAPH_CLOUD: graphCloud
  TABLES_ENDPOINT: tableEndpoint
  GRAPH_MAX_RPS: graphMaxRps
  GRAPH_MAX_RETRIES: graphMaxRetries
  GRAPH_RETRY_BASE_MS: graphRetryBaseMs
  GRAPH_REQUEST_TIMEOUT_SECONDS: graphRequestTimeoutSeconds
  SYNC_LOOKBACK_MINUTES: syncLookbackMinutes
  SYNC_INITIAL_DAYS: syncInitialDays
  SYNC_TIME_BUDGET_SECONDS: syncTimeBudgetSeconds
  SYNC_LEASE_SECONDS: syncLeaseSeconds
  SYNC_CHECKPOINT_SECONDS: syncCheckpointSeconds
  SYNC_SCHEDULE_RISK_DETECTIONS: syncScheduleRiskDetections
  SYNC_SCHEDULE_RISKY_USERS: syncScheduleRiskyUsers
  TABLE_RISK_DETECTIONS: tableRiskDetections
  TABLE_RISKY_USERS: tableRiskyUsers
  TABLE_SYNC_STATE: tableSyncState
  TABLE_SYNC_RUNS: tableSyncRuns
  SNAPSHOT_STALE_AFTER_RUNS: snapshotStaleAfterRuns
  HTTP_AUTH_LEVEL: httpAuthLevel
}

var appSettings = union(hostStorageAppSettings, platformAppSettings, syncAppSettings)

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'node'
        version: nodeVersion
      }
    }
  }
}

// The complete app settings of the app (a PUT replaces them all: a value changed in the portal is reset by
// the next provision; change the template parameters instead, see docs/deploy.md).
resource appSettingsConfig 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: appSettings
}

output name string = functionApp.name
output id string = functionApp.id
output defaultHostName string = functionApp.properties.defaultHostName
output url string = 'https://${functionApp.properties.defaultHostName}'
output tableEndpoint string = tableEndpoint
