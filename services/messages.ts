import type { ReadVia } from "./store/types.ts";
import {
  invalid,
  type Message,
  type MessageGroup,
  ok,
  type ServiceDeps,
  type ServiceResult,
  sourced,
} from "./types.ts";
import { isBlank, isStorable, messageErrors } from "./validate.ts";

/** Longest direct message, in characters (the original's limit). */
export const MESSAGE_MAX_CHARS = 1024;

/** MessageGroups: the signed-in user's conversations. */
export function messageGroups(
  deps: ServiceDeps,
  userHandle: string,
): Promise<ServiceResult<MessageGroup[]>> {
  return deps.traced("message-groups", async (span) => {
    const via: ReadVia = {};
    const groups = await deps.store.messageGroups(userHandle, via);
    span.setAttribute("app.result_length", groups.length);
    return sourced(span, via, ok(groups));
  });
}

/** Messages: the conversation between the signed-in user and `otherHandle`. */
export function messages(
  deps: ServiceDeps,
  userHandle: string,
  otherHandle: string,
): Promise<ServiceResult<Message[]>> {
  return deps.traced("messages", async (span) => {
    if (isBlank(otherHandle)) {
      span.addEvent("validation_failed", { "app.errors": "blank_user_handle" });
      return invalid<Message[]>("blank_user_handle");
    }
    if (!isStorable(otherHandle)) {
      span.addEvent("validation_failed", { "app.errors": "user_handle_invalid_characters" });
      return invalid<Message[]>("user_handle_invalid_characters");
    }
    const via: ReadVia = {};
    const list = await deps.store.messages(userHandle, otherHandle, via);
    span.setAttribute("app.result_length", list.length);
    return sourced(span, via, ok(list));
  });
}

/** Input of CreateMessage, as received (untrusted). */
export interface CreateMessageInput {
  senderHandle: string;
  receiverHandle: unknown;
  message: unknown;
}

/** CreateMessage: sends a direct message; codes keep the original's spelling. */
export function createMessage(
  deps: ServiceDeps,
  input: CreateMessageInput,
): Promise<ServiceResult<Message>> {
  return deps.traced("create-message", async (span) => {
    const errors: string[] = [];
    if (isBlank(input.senderHandle)) errors.push("user_sender_handle_blank");
    // "reciever" is the original's spelling; the frontend matches on it.
    if (isBlank(input.receiverHandle)) errors.push("user_reciever_handle_blank");
    else if (!isStorable(input.receiverHandle as string)) {
      errors.push("user_reciever_handle_invalid_characters");
    }
    errors.push(...messageErrors(input.message, MESSAGE_MAX_CHARS));
    if (errors.length > 0) {
      span.addEvent("validation_failed", { "app.errors": errors.join(",") });
      return invalid<Message>(...errors);
    }
    const message = await deps.store.addMessage({
      uuid: crypto.randomUUID(),
      senderHandle: input.senderHandle,
      receiverHandle: (input.receiverHandle as string).trim(),
      message: input.message as string,
      createdAt: deps.clock(),
    });
    span.setAttribute("app.message_group_uuid", message.message_group_uuid);
    return ok(message);
  });
}
