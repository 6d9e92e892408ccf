import assert from 'node:assert/strict';
import { test } from 'node:test';
import { healthy } from '../lib/health.mjs';

test('the service says it is healthy', () => assert.equal(healthy(), true));
