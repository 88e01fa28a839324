import type { Config } from '../../config/env.ts';
import { createSegmentExporter } from './segment.ts';
import {
  analyticsExportTopic,
  exportingAnalyticsSink,
  tableAnalyticsSink,
  type AnalyticsSink,
} from './sink.ts';

type AnalyticsConfig = Pick<Config, 'ANALYTICS_SINK' | 'SEGMENT_WRITE_KEY' | 'SEGMENT_API_URL'>;

/** Where the api and the activities record analytics events (ANALYTICS_SINK). */
export function createAnalyticsSink(config: AnalyticsConfig): AnalyticsSink {
  return config.ANALYTICS_SINK === 'segment'
    ? exportingAnalyticsSink('segment')
    : tableAnalyticsSink;
}

/**
 * The outbox sinks that deliver queued analytics batches to the configured outside service,
 * by topic, for the worker's outbox relay; none with the table sink.
 */
export function analyticsOutboxSinks(
  config: AnalyticsConfig,
): Record<string, (payload: unknown) => Promise<void>> {
  if (config.ANALYTICS_SINK !== 'segment') return {};
  return {
    [analyticsExportTopic('segment')]: createSegmentExporter({
      writeKey: config.SEGMENT_WRITE_KEY!,
      baseUrl: config.SEGMENT_API_URL,
    }),
  };
}

export {
  analyticsEventRows,
  tableAnalyticsSink,
  type AnalyticsEventInput,
  type AnalyticsSink,
} from './sink.ts';
