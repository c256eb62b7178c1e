import { EmailJob } from './email.job.js';

export interface RenderedEmail {
  subject: string;
  text: string;
}

/** Subject and plain-text body of each template. */
export function renderEmail(job: EmailJob): RenderedEmail {
  switch (job.template) {
    case 'welcome':
      return {
        subject: `Welcome, ${job.name}!`,
        text: `Hi ${job.name},\n\nthanks for signing up. Your account is ready.\n\nThe demo team\n`,
      };
    case 'reminder':
      return {
        subject: 'Reminder: finish setting up your account',
        text: `Hi ${job.name},\n\na short reminder to finish setting up your account.\n\nThe demo team\n`,
      };
  }
}
