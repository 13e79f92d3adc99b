// One StorageV2 account for everything: the Functions host (blob leases for the timer singletons, keys),
// the Flex Consumption deployment package (a blob container), and the sync's tables, which the app
// creates itself on first run. Shared key (account key and SAS) authorization is disabled: every caller
// authenticates with Microsoft Entra ID and is authorized by the roles in rbac.bicep.

@description('Storage account name: 3-24 lowercase letters and digits, globally unique.')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags for the account.')
param tags object = {}

@description('Replication. Standard_LRS is enough for a copy that can be re-synced from Graph (within Graph retention).')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_RAGRS'
  'Standard_GZRS'
  'Standard_RAGZRS'
])
param skuName string = 'Standard_LRS'

@description('Blob container that holds the Flex Consumption deployment package.')
param deploymentContainerName string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
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

output id string = storage.id
output name string = storage.name
@description('Blob service URL with a trailing slash, e.g. https://<account>.blob.core.windows.net/')
output blobEndpoint string = storage.properties.primaryEndpoints.blob
@description('Queue service URL with a trailing slash.')
output queueEndpoint string = storage.properties.primaryEndpoints.queue
@description('Table service URL with a trailing slash, e.g. https://<account>.table.core.windows.net/')
output tableEndpoint string = storage.properties.primaryEndpoints.table
output deploymentContainerName string = deploymentContainer.name
