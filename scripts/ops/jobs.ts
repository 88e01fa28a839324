import { parseArgs } from 'node:util';
import { retryJob, searchJobs, showJob } from '../../support/jobs.ts';
import { printRows } from '../lib/table.ts';
import { authorship, operationsDeps, parseCount, type OpsContext } from './common.ts';
import { UsageError } from './events.ts';

export const JOBS_USAGE = `jobs search [--email E] [--order ID|KEY] [--payment-intent PI] [--status S] [--limit N] [--offset N]
jobs show <job|order|entitlement id, payment intent or purchase key>   timeline + Temporal UI link
jobs retry <ref> --operator NAME --reason TEXT [--restart]   re-drive a failed/stuck job`;

/** `npm run ops -- jobs …`: find a purchase, read its timeline, re-drive it. */
export async function runJobsCommand(argv: string[], context: OpsContext): Promise<void> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      email: { type: 'string' },
      order: { type: 'string' },
      'payment-intent': { type: 'string' },
      status: { type: 'string' },
      limit: { type: 'string' },
      offset: { type: 'string' },
      operator: { type: 'string' },
      reason: { type: 'string' },
      restart: { type: 'boolean', default: false },
    },
  });
  const { json } = context;
  switch (sub) {
    case 'search': {
      const page = await searchJobs(context.db, {
        email: values.email,
        order: values.order,
        paymentIntent: values['payment-intent'],
        status: values.status,
        limit: parseCount('limit', values.limit, 50),
        offset: parseCount('offset', values.offset, 0),
      });
      if (json) {
        console.log(JSON.stringify(page, null, 2));
        return;
      }
      printRows(
        page.items.map((job) => ({
          job: job.jobId,
          status: job.status,
          purchase: job.purchaseKey,
          email: job.email,
          amount:
            job.amountTotal === null
              ? ''
              : `${(job.amountTotal / 100).toFixed(2)} ${job.currency ?? ''}`,
          created: job.createdAt,
          error: job.lastError,
        })),
        false,
      );
      if (page.hasMore)
        console.log(`(more: --offset ${page.offset + page.limit} for the next page)`);
      return;
    }
    case 'show': {
      const ref = positionals[0];
      if (!ref) throw new UsageError(`jobs show needs a reference\n${JOBS_USAGE}`);
      const timeline = await showJob(operationsDeps(context), ref);
      if (json) {
        console.log(JSON.stringify(timeline, null, 2));
        return;
      }
      printRows(
        [
          {
            order: timeline.orderId,
            purchase: timeline.purchaseKey,
            email: timeline.email,
            customer: timeline.customerStatus,
            job: timeline.jobId,
            status: timeline.status,
            error: timeline.lastError,
          },
        ],
        false,
      );
      console.log(`\nTemporal UI: ${timeline.temporalUrl}\n`);
      printRows(
        timeline.entitlements.map((e) => ({ entitlement: e.id, sku: e.sku, status: e.status })),
        false,
      );
      console.log('');
      printRows(
        timeline.timeline.map((entry) => ({
          at: entry.at,
          source: entry.source,
          event: entry.event,
          detail: Object.fromEntries(
            Object.entries(entry.detail).filter(
              ([, value]) => value !== null && value !== undefined,
            ),
          ),
        })),
        false,
      );
      return;
    }
    case 'retry': {
      const ref = positionals[0];
      if (!ref) throw new UsageError(`jobs retry needs a reference\n${JOBS_USAGE}`);
      const who = authorship(values, JOBS_USAGE);
      const outcome = await retryJob(operationsDeps(context), ref, {
        ...who,
        restart: values.restart,
      });
      printRows([{ ...outcome }], json);
      return;
    }
    default:
      throw new UsageError(`unknown jobs command ${sub ?? '(none)'}\n${JOBS_USAGE}`);
  }
}
