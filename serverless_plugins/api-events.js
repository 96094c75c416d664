'use strict';

// Resolves functions.api.events: custom.apiEvents, plus custom.albEvent when an ALB listener
// ARN was given (osls ... --param="albListenerArn=arn:..."). YAML cannot drop a list item
// conditionally, hence this resolver. CLI params are strings, so coerce the ALB scalars.

function toBool(value, name) {
  if (typeof value === 'boolean') return value;
  const text = String(value).trim().toLowerCase();
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw new Error(`${name} must be true or false, got ${JSON.stringify(value)}`);
}

function toPriority(value) {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1 || number > 50000) {
    throw new Error(`albPriority must be an integer from 1 to 50000, got ${JSON.stringify(value)}`);
  }
  return number;
}

module.exports.events = async ({ resolveVariable }) => {
  const events = await resolveVariable('self:custom.apiEvents');
  const { alb } = await resolveVariable('self:custom.albEvent');
  const listenerArn = String(alb.listenerArn || '').trim();
  if (!listenerArn) return events;
  return [
    ...events,
    {
      alb: {
        ...alb,
        listenerArn,
        priority: toPriority(alb.priority),
        multiValueHeaders: toBool(alb.multiValueHeaders, 'albMultiValueHeaders'),
      },
    },
  ];
};
