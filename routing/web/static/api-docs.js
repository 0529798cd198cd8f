// Starts Swagger UI on /docs (routing/web/api_docs.py). A file of its own rather than an inline
// script, so that the page's Content-Security-Policy can allow scripts from this server only.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null, // never send the description to an outside validator
  queryConfigEnabled: false, // settings in the address (?url=...) are ignored
  persistAuthorization: false, // a pasted token is forgotten when the tab closes
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
