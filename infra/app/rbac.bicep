// Azure role assignments, one resource per purpose, each at the narrowest scope that works. Each name is a
// deterministic guid() of (scope, principal, role), so re-provisioning is idempotent. Role definition ids are the
// built-in ids, identical in every Azure cloud.
//
//   the app's tables      Storage Table Data Contributor on each table (tableRoleScope 'table', the default; the
//                         tables are created by storage.bicep) or on the account ('account')
//   the run requests      on the RUNS_QUEUE queue only: Storage Queue Data Reader + Message Processor (what the
//                         Functions queue trigger needs) and Message Sender (POST /api/runs); Message Sender on its
//                         poison queue (where the trigger moves a message that keeps failing). No other queue role.
//   host storage          Storage Blob Data Owner on the account: the Functions host creates and writes its own
//                         containers (timer singleton leases, timer status, function keys) and reads the deployment
//                         package; this is the role Microsoft documents for an identity-based AzureWebJobsStorage.
//   telemetry             Monitoring Metrics Publisher on Application Insights
//
// Microsoft Graph permissions (IdentityRiskEvent.Read.All, IdentityRiskyUser.Read.All) are NOT Azure roles and
// cannot be granted by an ARM deployment: infra/grant-graph-permissions.sh/.ps1 does that.

@description('Storage account that holds host storage, the deployment package, the tables and the run queue.')
param storageAccountName string

@description('Application Insights component the app sends telemetry to.')
param applicationInsightsName string

@description('Object (principal) id of the function app\'s user-assigned managed identity.')
param appPrincipalId string

@description('The app\'s tables (created by storage.bicep).')
param tableNames array

@description('table: the table roles are scoped to each table; account: to the storage account.')
@allowed([
  'table'
  'account'
])
param tableRoleScope string = 'table'

@description('Queue of run requests (created by storage.bicep).')
param runsQueueName string

@description('Poison queue of the run requests (created by storage.bicep).')
param runsPoisonQueueName string

@description('Blob container that holds the deployment package.')
param deploymentContainerName string

@description('Optional: object id of a person or service principal that runs the risk-sync CLI (backfills, inspections) against the tables. Empty: no assignment.')
param operatorPrincipalId string = ''

@description('Type of operatorPrincipalId.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param operatorPrincipalType string = 'User'

@description('Optional (Premium plan): object id of who uploads the deployment package. Empty: no assignment.')
param packagePublisherPrincipalId string = ''

@description('Type of packagePublisherPrincipalId.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param packagePublisherPrincipalType string = 'User'

var role = {
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageQueueDataReader: '19e7f393-937e-4f77-808e-94535e297925'
  storageQueueDataMessageProcessor: '8a0f0c08-91a1-4084-bc3d-661d67233fed'
  storageQueueDataMessageSender: 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' existing = [
  for tableName in tableNames: {
    parent: tableService
    name: tableName
  }
]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource runsQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = {
  parent: queueService
  name: runsQueueName
}

resource runsPoisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = {
  parent: queueService
  name: runsPoisonQueueName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: deploymentContainerName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// ---- the app's tables ----

resource dataTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (tableName, i) in tableNames: if (tableRoleScope == 'table') {
    name: guid(tables[i].id, appPrincipalId, role.storageTableDataContributor)
    scope: tables[i]
    properties: {
      description: 'risk-sync: read/write the table ${tableName} (Storage Table Data Contributor)'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.storageTableDataContributor)
      principalId: appPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource dataAccountTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (tableRoleScope == 'account') {
  name: guid(storage.id, appPrincipalId, role.storageTableDataContributor)
  scope: storage
  properties: {
    description: 'risk-sync: read/write the tables of the account (Storage Table Data Contributor)'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.storageTableDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// ---- the run requests (RUNS_QUEUE) ----

resource runsQueueReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(runsQueue.id, appPrincipalId, role.storageQueueDataReader)
  scope: runsQueue
  properties: {
    description: 'risk-sync: the queue trigger reads the run-request queue (Storage Queue Data Reader)'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.storageQueueDataReader)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource runsQueueProcessor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(runsQueue.id, appPrincipalId, role.storageQueueDataMessageProcessor)
  scope: runsQueue
  properties: {
    description: 'risk-sync: the queue trigger receives and deletes run requests (Storage Queue Data Message Processor)'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.storageQueueDataMessageProcessor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource runsQueueSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(runsQueue.id, appPrincipalId, role.storageQueueDataMessageSender)
  scope: runsQueue
  properties: {
    description: 'risk-sync: POST /api/runs sends run requests (Storage Queue Data Message Sender)'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.storageQueueDataMessageSender)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource runsPoisonQueueSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(runsPoisonQueue.id, appPrincipalId, role.storageQueueDataMessageSender)
  scope: runsPoisonQueue
  properties: {
    description: 'risk-sync: the queue trigger moves a failing run request to the poison queue (Storage Queue Data Message Sender)'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.storageQueueDataMessageSender)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// ---- Functions host storage (AzureWebJobsStorage__*) and the deployment package ----

resource hostBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, role.storageBlobDataOwner)
  scope: storage
  properties: {
    description: 'risk-sync: Functions host storage and deployment package (Storage Blob Data Owner)'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.storageBlobDataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// ---- telemetry ----

// Entra-authenticated telemetry (APPLICATIONINSIGHTS_AUTHENTICATION_STRING); required because the
// component has DisableLocalAuth: true.
resource monitoringMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, appPrincipalId, role.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    description: 'risk-sync: send telemetry with Entra ID auth (Monitoring Metrics Publisher)'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.monitoringMetricsPublisher)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// ---- people ----

// Optional: the operator who runs `risk-sync sync --full` from a workstation: the same table scope as the app.
resource operatorTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (tableName, i) in tableNames: if (!empty(operatorPrincipalId) && tableRoleScope == 'table') {
    name: guid(tables[i].id, operatorPrincipalId, role.storageTableDataContributor)
    scope: tables[i]
    properties: {
      description: 'risk-sync: operator access to the table ${tableName} (Storage Table Data Contributor)'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.storageTableDataContributor)
      principalId: operatorPrincipalId
      principalType: operatorPrincipalType
    }
  }
]

resource operatorAccountTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId) && tableRoleScope == 'account') {
  name: guid(storage.id, operatorPrincipalId, role.storageTableDataContributor)
  scope: storage
  properties: {
    description: 'risk-sync: operator access to the tables of the account (Storage Table Data Contributor)'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.storageTableDataContributor)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

// Optional (Premium plan): who uploads the deployment package, which the app runs from (WEBSITE_RUN_FROM_PACKAGE).
resource packagePublisherContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(packagePublisherPrincipalId)) {
  name: guid(deploymentContainer.id, packagePublisherPrincipalId, role.storageBlobDataContributor)
  scope: deploymentContainer
  properties: {
    description: 'risk-sync: upload the deployment package (Storage Blob Data Contributor)'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.storageBlobDataContributor)
    principalId: packagePublisherPrincipalId
    principalType: packagePublisherPrincipalType
  }
}
