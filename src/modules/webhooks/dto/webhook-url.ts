import { ValidateBy, type ValidationOptions } from 'class-validator';

/** Why a string is not a usable webhook URL, or null. The https-only rule depends on the config and is checked later. */
export function webhookUrlProblem(value: unknown): string | null {
  if (typeof value !== 'string') return 'url must be a string';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'url must be an absolute URL, e.g. https://hooks.example.com/box-office';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'url must use https';
  if (url.username || url.password) return 'url must not contain credentials; authenticate with the signature';
  if (url.hash) return 'url must not have a fragment';
  return null;
}

/** An absolute http(s) URL without credentials or fragment. */
export const IsWebhookUrl = (options?: ValidationOptions): PropertyDecorator =>
  ValidateBy(
    {
      name: 'isWebhookUrl',
      validator: {
        validate: (value) => webhookUrlProblem(value) === null,
        defaultMessage: (args) => webhookUrlProblem(args?.value) ?? 'url is invalid',
      },
    },
    options,
  );
