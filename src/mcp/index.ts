/** The stdio MCP server over the store tools (`dancer mcp`). */
export { createMcpServer, type McpServerOptions, serveStdio } from './server.js';
