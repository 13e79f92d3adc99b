// The hosting plan + the function app. The app runs as the user-assigned identity only: host storage, deployment
// package, tables, the run queue, Application Insights and Graph all authenticate with it, no keys anywhere.
//
// Two hosting plans, one shape each (planShapes, siteShapes, hostingAppSettings):
//   flex     Flex Consumption (FC1): runtime, scale and the deployment container live in functionAppConfig; the
//            platform rejects siteConfig.ftpsState and the FUNCTIONS_*/WEBSITE_* settings Premium needs.
//   premium  Elastic Premium (EP1, Linux) for clouds without Flex Consumption (Azure Government): runtime in
//            siteConfig.linuxFxVersion, FUNCTIONS_WORKER_RUNTIME/FUNCTIONS_EXTENSION_VERSION app settings, and no
//            Azure Files content share (it needs an account key): the app runs from the package blob
//            (WEBSITE_RUN_FROM_PACKAGE) read with its identity.
//
// App settings are in objects whose names end in AppSettings (tests read them), merged into appSettings:
//   hostStorageAppSettings   identity-based AzureWebJobsStorage (account name in public Azure, service URIs in
//                            sovereign clouds, where the account-name form cannot build the host names)
//   platformAppSettings      the rest of what the Functions host and the Azure SDK need
//   hostingAppSettings       what the hosting plan needs (Premium only)
//   runsQueueAppSettings     the identity-based connection 'RunsQueue' of the queue trigger
//   settings                 the app's own settings (parameter: infra/app-settings.json + overrides)
//   computedAppSettings      the app's settings the template computes; they win over `settings`

@description('Function app name (globally unique: <name>.azurewebsites.net).')
param name string

@description('Hosting plan name.')
param planName string

@description('Azure region (with hostingPlan flex it must offer Flex Consumption: az functionapp list-flexconsumption-locations).')
param location string

@description('Tags for the plan and the app.')
param tags object = {}

@description('Value of the azd-service-name tag: azd deploys the service of that name to this app.')
param serviceName string = 'api'

@description('flex: Flex Consumption (FC1). premium: Elastic Premium (EP1, Linux).')
@allowed([
  'flex'
  'premium'
])
param hostingPlan string = 'flex'

@description('Resource id of the user-assigned managed identity.')
param identityId string

@description('Client id of the user-assigned managed identity.')
param identityClientId string

@description('Storage account for host storage, deployment package, tables and the run queue.')
param storageAccountName string

@description('Blob container that holds the deployment package.')
param deploymentContainerName string

@description('Application Insights component name.')
param applicationInsightsName string

@description('Flex Consumption only: memory of each instance in MB (billing is per GB-second of this size).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances of each function group (Flex Consumption) or of the app (Premium).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 1

@description('AZURE_TENANT_ID: the tenant synced and written on every row.')
param tenantId string

@description('The app\'s own settings (src/config/settings.ts): the defaults of infra/app-settings.json with the overrides merged over them.')
param settings object

// Node.js of the Functions runtime: Node 22 (Node 20 is out of support).
var nodeVersion = '22'
// Premium runs from this blob of the deployment container (docs/deploy.md: deploying on Premium).
var packageBlobName = 'function-app.zip'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// The account's endpoints without the trailing slash ARM returns (https://<account>.table.core.windows.net).
var rawTableEndpoint = storage.properties.primaryEndpoints.table
var tableEndpoint = endsWith(rawTableEndpoint, '/') ? substring(rawTableEndpoint, 0, length(rawTableEndpoint) - 1) : rawTableEndpoint
var rawQueueEndpoint = storage.properties.primaryEndpoints.queue
var queueEndpoint = endsWith(rawQueueEndpoint, '/') ? substring(rawQueueEndpoint, 0, length(rawQueueEndpoint) - 1) : rawQueueEndpoint
var packageUrl = '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}/${packageBlobName}'

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
  // DefaultAzureCredential tries the managed identity only: no environment, workload-identity or developer
  // credential can be picked up by accident, and a broken identity fails at once instead of after the chain.
  AZURE_TOKEN_CREDENTIALS: 'ManagedIdentityCredential'
  // No languageWorkers__node__arguments (the V8 flags bin/risk-sync.js runs with): with it the host does not use its
  // pre-warmed placeholder worker and starts a new Node process on every cold start, which costs more than the memory
  // the flags save on a 2 GB instance.
}

var premiumAppSettings = {
  FUNCTIONS_EXTENSION_VERSION: '~4'
  FUNCTIONS_WORKER_RUNTIME: 'node'
  WEBSITE_RUN_FROM_PACKAGE: packageUrl
  WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID: identityId
}
var hostingAppSettings = hostingPlan == 'premium' ? premiumAppSettings : {}

// The queue trigger of the run requests names the connection 'RunsQueue' (identity-based: no connection string).
var runsQueueAppSettings = {
  RunsQueue__queueServiceUri: queueEndpoint
  RunsQueue__credential: 'managedidentity'
  RunsQueue__clientId: identityClientId
}

var computedAppSettings = {
  AZURE_TENANT_ID: tenantId
  AZURE_CLIENT_ID: identityClientId
  TABLES_ENDPOINT: tableEndpoint
  QUEUE_ENDPOINT: queueEndpoint
}

var appSettings = union(hostStorageAppSettings, platformAppSettings, hostingAppSettings, runsQueueAppSettings, settings, computedAppSettings)

var planShapes = {
  flex: {
    kind: 'functionapp'
    sku: {
      name: 'FC1'
      tier: 'FlexConsumption'
    }
    properties: {
      reserved: true
    }
  }
  premium: {
    kind: 'elastic'
    sku: {
      name: 'EP1'
      tier: 'ElasticPremium'
    }
    properties: {
      reserved: true
      maximumElasticWorkerCount: maximumInstanceCount
    }
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: planShapes[hostingPlan].kind
  sku: planShapes[hostingPlan].sku
  properties: planShapes[hostingPlan].properties
}

var siteShapes = {
  // Flex Consumption: no ftpsState (rejected); FTP and SCM basic auth are off through the policies below.
  flex: {
    siteConfig: {
      minTlsVersion: '1.2'
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
  premium: {
    siteConfig: {
      linuxFxVersion: 'Node|${nodeVersion}'
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      functionAppScaleLimit: maximumInstanceCount
      minimumElasticInstanceCount: 1
    }
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
  properties: union(
    {
      serverFarmId: plan.id
      httpsOnly: true
    },
    siteShapes[hostingPlan]
  )
}

// No FTP and no SCM (Kudu) basic authentication: deployments authenticate with Entra ID (azd does).
resource ftpBasicPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmBasicPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

// The complete app settings of the app (a PUT replaces them all: a value changed in the portal is reset by
// the next provision; change the appSettings parameter instead, see docs/deploy.md).
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
output queueEndpoint string = queueEndpoint
@description('Premium: the blob the app runs from (upload the package there). Flex: empty (azd deploys into the container).')
output packageUrl string = hostingPlan == 'premium' ? packageUrl : ''
