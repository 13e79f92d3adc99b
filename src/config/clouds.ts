/** The national clouds that offer Identity Protection: Graph root, token authority and scope go together. */
export const GRAPH_CLOUDS = {
  global: {
    graphRoot: 'https://graph.microsoft.com',
    authorityHost: 'https://login.microsoftonline.com',
    scope: 'https://graph.microsoft.com/.default',
  },
  usgov: {
    graphRoot: 'https://graph.microsoft.us',
    authorityHost: 'https://login.microsoftonline.us',
    scope: 'https://graph.microsoft.us/.default',
  },
  usgovdod: {
    graphRoot: 'https://dod-graph.microsoft.us',
    authorityHost: 'https://login.microsoftonline.us',
    scope: 'https://dod-graph.microsoft.us/.default',
  },
} as const;

export type GraphCloudName = keyof typeof GRAPH_CLOUDS;
export type GraphCloud = (typeof GRAPH_CLOUDS)[GraphCloudName];
export const GRAPH_CLOUD_NAMES = Object.keys(GRAPH_CLOUDS) as GraphCloudName[];
