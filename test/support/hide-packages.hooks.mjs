// Module resolution hooks for hide-packages.mjs.
let hidden = [];

export function initialize(data) {
  hidden = data.hidden;
}

export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (hidden.some((name) => specifier === name || specifier.startsWith(`${name}/`) || resolved.url.includes(`/node_modules/${name}/`))) {
    const error = new Error(`Cannot find package '${specifier}' imported from ${context.parentURL}`);
    error.code = 'ERR_MODULE_NOT_FOUND';
    throw error;
  }
  return resolved;
}
