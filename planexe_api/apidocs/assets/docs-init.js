// Starts Swagger UI on this service's own OpenAPI description (a file, not an inline script,
// so the page's Content-Security-Policy can forbid inline scripts).
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  // Swagger UI would otherwise send the schema to validator.swagger.io for a badge.
  validatorUrl: null,
});
