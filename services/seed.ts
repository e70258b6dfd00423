/**
 * The original backend's sample data (omenking/aws-bootcamp-cruddur-2023, week 2), used to
 * seed the in-memory store. Times are offsets from the store's creation, as the original
 * computed them from `now`. Handles are normalised to real handles (the original mixed
 * display names into `handle`) so that per-user feeds find them.
 */
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A seeded activity, with times relative to the seeding instant. */
export interface SeedActivity {
  uuid: string;
  display_name: string;
  handle: string;
  message: string;
  likes_count: number;
  reposts_count: number;
  created_offset: number;
  expires_offset: number;
  replies: SeedReply[];
}

/** A seeded reply. */
export interface SeedReply {
  uuid: string;
  display_name: string;
  handle: string;
  message: string;
  likes_count: number;
  created_offset: number;
}

/** Worf's reply, under both the home feed's first post and Coco's notification (as the seed). */
const WORF_REPLY: SeedReply = {
  uuid: "26e12864-1c26-5c3a-9658-97a10f8fea67",
  display_name: "Worf",
  handle: "worf",
  message: "This post has no honor!",
  likes_count: 0,
  created_offset: -2 * DAY,
};

/** The home feed's three activities (HomeActivities) plus the user feed's one (UserActivities). */
export const SEED_ACTIVITIES: readonly SeedActivity[] = [
  {
    uuid: "68f126b0-1ceb-4a33-88be-d90fa7109eee",
    display_name: "Andrew Brown",
    handle: "andrewbrown",
    message: "Cloud is very fun!",
    likes_count: 5,
    reposts_count: 0,
    created_offset: -2 * DAY,
    expires_offset: 5 * DAY,
    replies: [WORF_REPLY],
  },
  {
    uuid: "66e12864-8c26-4c3a-9658-95a10f8fea67",
    display_name: "Worf",
    handle: "worf",
    message: "I am out of prune juice",
    likes_count: 0,
    reposts_count: 0,
    created_offset: -7 * DAY,
    expires_offset: 9 * DAY,
    replies: [],
  },
  {
    uuid: "248959df-3079-4947-b847-9e0892d1bab4",
    display_name: "Garek",
    handle: "garek",
    message: "My dear doctor, I am just simple tailor",
    likes_count: 0,
    reposts_count: 0,
    created_offset: -1 * HOUR,
    expires_offset: 12 * HOUR,
    replies: [],
  },
  {
    uuid: "7b5f6a1e-2c1d-4d7e-9a55-2f0c8a3e1b42",
    display_name: "Andrew Brown",
    handle: "andrewbrown",
    message: "Cloud is fun!",
    likes_count: 0,
    reposts_count: 0,
    created_offset: -1 * DAY,
    expires_offset: 31 * DAY,
    replies: [],
  },
];

/** NotificationsActivities' sample: Coco the unicorn. */
export const SEED_NOTIFICATIONS: readonly SeedActivity[] = [{
  uuid: "68f126b0-1ceb-4a33-88be-d90fa7109eee",
  display_name: "Coco Melon",
  handle: "coco",
  message: "I am white unicorn",
  likes_count: 5,
  reposts_count: 0,
  created_offset: -2 * DAY,
  expires_offset: 5 * DAY,
  replies: [WORF_REPLY],
}];

/** MessageGroups' two groups, keyed by the other user's handle. */
export const SEED_MESSAGE_GROUPS = [
  {
    uuid: "24b95582-9e7b-4e0a-9ad1-639773ab7552",
    display_name: "Andrew Brown",
    handle: "andrewbrown",
  },
  { uuid: "417c360e-c4e6-4fce-873b-d2d71469b4ac", display_name: "Worf", handle: "worf" },
] as const;

/** Messages' two samples, in the conversation with Worf. */
export const SEED_MESSAGES = [
  {
    uuid: "4e81c06a-db0f-4281-b4cc-98208537772a",
    group_handle: "worf",
    display_name: "Andrew Brown",
    handle: "andrewbrown",
    message: "Cloud is fun!",
  },
  {
    uuid: "66e12864-8c26-4c3a-9658-95a10f8fea67",
    group_handle: "worf",
    display_name: "Andrew Brown",
    handle: "andrewbrown",
    message: "This platform is great!",
  },
] as const;

/** Display names of the known users; others show their handle. */
export const DISPLAY_NAMES: Readonly<Record<string, string>> = {
  andrewbrown: "Andrew Brown",
  worf: "Worf",
  garek: "Garek",
  coco: "Coco Melon",
};
