// Azure role assignments, one resource per purpose. Each name is a deterministic guid() of
// (scope, principal, role), so re-provisioning is idempotent. Role definition ids are the built-in ids,
// identical in every Azure cloud.
//
// Microsoft Graph permissions (IdentityRiskEvent.Read.All, IdentityRiskyUser.Read.All) are NOT Azure
// roles and cannot be granted by an ARM deployment: infra/grant-graph-permissions.sh/.ps1 does that.

@description('Storage account that holds host storage, the deployment package and the sync tables.')
param storageAccountName string

@description('Application Insights component the app sends telemetry to.')
param applicationInsightsName string

@description('Object (principal) id of the function app\'s user-assigned managed identity.')
param appPrincipalId string

@description('Optional: object id of a person or service principal that runs the risk-sync CLI (backfills, inspections) against the tables. Empty: no assignment.')
param operatorPrincipalId string = ''

@description('Type of operatorPrincipalId.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param operatorPrincipalType string = 'User'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// The sync's own data: RiskDetections, RiskyUsers, SyncState, SyncRuns (names from the TABLE_* settings).
// Account scope because the app creates the tables; table-scoped roles would need the tables to exist.
resource dataStoreTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3')
  scope: storage
  properties: {
    description: 'risk-sync: read/write the sync tables (Storage Table Data Contributor)'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3')
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Functions host storage (AzureWebJobsStorage__*): timer singleton leases, function keys (azure-webjobs-*
// containers) and the Flex Consumption deployment package container.
resource hostBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b')
  scope: storage
  properties: {
    description: 'risk-sync: Functions host storage and deployment package (Storage Blob Data Owner)'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b')
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Functions host queues (the host uses queues for some internal work, e.g. blob trigger receipts and
// diagnostics; granted as the Functions guidance for identity-based host storage recommends).
resource hostQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, '974c5e8b-45b9-4653-ba55-5f855dd0fb88')
  scope: storage
  properties: {
    description: 'risk-sync: Functions host queues (Storage Queue Data Contributor)'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '974c5e8b-45b9-4653-ba55-5f855dd0fb88')
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Entra-authenticated telemetry (APPLICATIONINSIGHTS_AUTHENTICATION_STRING); required because the
// component has DisableLocalAuth: true.
resource monitoringMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, appPrincipalId, '3913510d-42f4-4e42-8a64-420c390055eb')
  scope: appInsights
  properties: {
    description: 'risk-sync: send telemetry with Entra ID auth (Monitoring Metrics Publisher)'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '3913510d-42f4-4e42-8a64-420c390055eb')
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Optional: the operator who runs `risk-sync sync --full` from a workstation.
resource operatorTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(storage.id, operatorPrincipalId, '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3')
  scope: storage
  properties: {
    description: 'risk-sync: operator access to the sync tables (Storage Table Data Contributor)'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3')
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}
