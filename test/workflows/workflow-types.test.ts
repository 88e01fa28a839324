import { describe, expect, it } from 'vitest';
import * as registered from '../../workflows/index.ts';
import { WORKFLOW_TYPES } from '../../workflows/contracts.ts';

describe('workflow types', () => {
  it('names exactly the workflows the worker registers, so every start finds its code', () => {
    expect(Object.values(WORKFLOW_TYPES).sort()).toEqual(Object.keys(registered).sort());
  });
});
