import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';

/** A provider method carrying one of this module's decorators. */
export interface DiscoveredMethod<M> {
  instance: Record<string, Function>;
  prototype: object;
  method: string;
  /** `ClassName.method`, for messages. */
  name: string;
  metadata: M;
}

/**
 * The provider methods that carry `metadataKey`, the way every explorer of the module finds them: it
 * skips aliases and providers without an instance, resolves the class from the instance (so useFactory
 * and useValue providers work), and reports request-scoped providers (a handler has no request) through
 * `onRequestScoped` instead of binding them.
 */
export function discoverMethods<M>(
  discovery: DiscoveryService,
  scanner: MetadataScanner,
  reflector: Reflector,
  metadataKey: string,
  onRequestScoped: (provider: string) => void,
): DiscoveredMethod<M>[] {
  const found: DiscoveredMethod<M>[] = [];
  for (const wrapper of discovery.getProviders()) {
    const { instance } = wrapper;
    if (wrapper.isAlias || !instance || typeof instance !== 'object') continue;
    const prototype = Object.getPrototypeOf(instance) as object | null;
    if (!prototype || prototype === Object.prototype) continue;
    for (const method of scanner.getAllMethodNames(prototype)) {
      const handler = (prototype as Record<string, unknown>)[method];
      const metadata = reflector.get<M | undefined>(metadataKey, handler as Function);
      if (!metadata) continue;
      const name = `${(instance as object).constructor.name}.${method}`;
      if (!wrapper.isDependencyTreeStatic()) {
        onRequestScoped(wrapper.name?.toString() ?? name);
        continue;
      }
      found.push({ instance: instance as Record<string, Function>, prototype, method, name, metadata });
    }
  }
  return found;
}
