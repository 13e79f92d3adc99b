// User-assigned managed identity of the function app. It is the only credential the app has:
// host storage, the deployment package, the sync's tables, Application Insights and Microsoft Graph
// (app roles granted after provisioning by infra/grant-graph-permissions.*) all authorize this identity.
// A user-assigned identity (rather than system-assigned) exists before the app does, so every role
// assignment is in place when the app first starts, and it survives re-creating the app.

@description('Name of the user-assigned managed identity.')
param name string

@description('Azure region.')
param location string

@description('Tags for the identity.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
@description('Object (principal) id: what role assignments and Graph app role assignments target.')
output principalId string = identity.properties.principalId
@description('Client (application) id: what AZURE_CLIENT_ID and the storage/App Insights settings name.')
output clientId string = identity.properties.clientId
