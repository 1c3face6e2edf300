import { mergePreferences } from './contact-preferences';

describe('mergePreferences', () => {
  it('applies only the keys sent and keeps the others', () => {
    expect(mergePreferences({ language: 'en', newsletter: true }, { preferredChannel: 'sms' })).toEqual({ language: 'en', newsletter: true, preferredChannel: 'sms' });
  });

  it('removes a key sent as null instead of storing null', () => {
    expect(mergePreferences({ language: 'en', newsletter: false }, { newsletter: null })).toEqual({ language: 'en' });
  });

  it('drops stored keys it does not know', () => {
    expect(mergePreferences({ language: 'en', theme: 'dark' } as never, {})).toEqual({ language: 'en' });
  });
});
