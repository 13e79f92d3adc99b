// One StorageV2 account for everything: the Functions host (blob leases for the timer singleton, keys), the
// deployment package (a blob container), the sync's tables and the queue of run requests. Shared key (account key
// and SAS) authorization is disabled: every caller authenticates with Microsoft Entra ID and is authorized by the
// roles in rbac.bicep.
//
// The tables keep what Graph no longer holds once its retention has passed (low-risk detections age out of Graph
// after 6 months, for example), so they cannot simply be re-synced: the account is zone- and geo-redundant by
// default and carries a CanNotDelete lock (lift it before `azd down`, see docs/deploy.md). The template creates the
// tables (the app would create them too) so that the table roles can be scoped to them.

@description('Storage account name: 3-24 lowercase letters and digits, globally unique.')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags for the account.')
param tags object = {}

@description('Replication: GZRS (zone- and geo-redundant, default), ZRS (zones, one region), GRS (geo, no zones), LRS (one datacenter). The tables outlive Graph\'s retention and cannot be re-synced: keep a zone-redundant choice unless the region has no availability zones.')
@allowed([
  'GZRS'
  'ZRS'
  'GRS'
  'LRS'
])
param redundancy string = 'GZRS'

@description('Management lock on the account: CanNotDelete (default) or None.')
@allowed([
  'CanNotDelete'
  'None'
])
param dataLock string = 'CanNotDelete'

@description('Blob container that holds the deployment package.')
param deploymentContainerName string

@description('Names of the app\'s tables (the TABLE_* settings).')
param tableNames array

@description('Queue of run requests (RUNS_QUEUE); the Functions queue trigger moves a message that keeps failing to <name>-poison.')
@minLength(3)
@maxLength(56)
param runsQueueName string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_${redundancy}'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    dnsEndpointType: 'Standard'
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

// Deleting the account (or the resource group) is refused while this lock exists; the data inside stays writable.
resource dataDeleteLock 'Microsoft.Authorization/locks@2020-05-01' = if (dataLock == 'CanNotDelete') {
  name: 'risk-sync-data-cannot-delete'
  scope: storage
  properties: {
    level: 'CanNotDelete'
    notes: 'The synced tables outlive Microsoft Graph retention and exist nowhere else. Export them, then lift this lock before deleting (docs/deploy.md, Uninstall).'
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [
  for tableName in tableNames: {
    parent: tableService
    name: tableName
  }
]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource runsQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: runsQueueName
}

// Created up front so that the trigger only needs to send to it (a role scoped to this queue), never to create it.
resource runsPoisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: '${runsQueueName}-poison'
}

output id string = storage.id
output name string = storage.name
@description('Blob service URL with a trailing slash, e.g. https://<account>.blob.core.windows.net/')
output blobEndpoint string = storage.properties.primaryEndpoints.blob
@description('Queue service URL with a trailing slash.')
output queueEndpoint string = storage.properties.primaryEndpoints.queue
@description('Table service URL with a trailing slash, e.g. https://<account>.table.core.windows.net/')
output tableEndpoint string = storage.properties.primaryEndpoints.table
output deploymentContainerName string = deploymentContainer.name
output tableNames array = [for (tableName, i) in tableNames: tables[i].name]
output runsQueueName string = runsQueue.name
output runsPoisonQueueName string = runsPoisonQueue.name
