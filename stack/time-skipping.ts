import type { DataConverter } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { installTemporalRuntime } from '../worker/runtime.ts';
import { SEARCH_ATTRIBUTE_REGISTRATIONS } from '../workflows/contracts.ts';
import { resolveBinary } from './binaries.ts';

/** `temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD` */
const INDEXED_VALUE_TYPE_KEYWORD = 2;

/**
 * The time-skipping test server (found by the resolver) with the project's search attributes
 * registered — it rejects upserts of attributes it does not know.
 */
export async function startTimeSkippingServer(
  executablePath?: string,
  /** The client's data converter (payload encryption); workers on it must use the same. */
  dataConverter?: DataConverter,
): Promise<TestWorkflowEnvironment> {
  installTemporalRuntime();
  const path = executablePath ?? (await resolveBinary('temporal-test-server'));
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path } },
    ...(dataConverter ? { client: { dataConverter } } : {}),
  });
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(
      SEARCH_ATTRIBUTE_REGISTRATIONS.map(({ name }) => [name, INDEXED_VALUE_TYPE_KEYWORD]),
    ),
  });
  return env;
}
