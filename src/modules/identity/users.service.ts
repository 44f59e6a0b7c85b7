import { Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { Repository } from 'typeorm';
import { QueryFailedError } from 'typeorm';
import { emailTaken, invalidCredentials, userNotFound } from './identity.errors';
import { hashPassword, verifyPassword } from './password-hasher';
import { UserEntity, type Role } from './user.entity';

@Injectable()
export class UsersService implements OnModuleInit {
  /** Verified when the email is unknown, so a failed login costs the same either way. */
  private decoy?: Promise<string>;

  constructor(@InjectRepository(UserEntity) private readonly users: Repository<UserEntity>) {}

  /** Hashed at start (not awaited), so even the first failed login costs one scrypt, not two. */
  onModuleInit(): void {
    this.decoy = hashPassword('decoy password, never matches');
    this.decoy.catch(() => undefined);
  }

  async register(email: string, password: string, role: Role): Promise<UserEntity> {
    const passwordHash = await hashPassword(password);
    try {
      return await this.users.save(this.users.create({ email: email.toLowerCase(), passwordHash, roles: [role] }));
    } catch (error) {
      if (error instanceof QueryFailedError && (error.driverError as { code?: string })?.code === '23505')
        throw emailTaken();
      throw error;
    }
  }

  async verifyCredentials(email: string, password: string): Promise<UserEntity> {
    const user = await this.users.findOneBy({ email: email.toLowerCase() });
    const hash = user?.passwordHash ?? (await (this.decoy ??= hashPassword('decoy password, never matches')));
    const valid = await verifyPassword(password, hash);
    if (!user || !valid) throw invalidCredentials();
    return user;
  }

  async get(id: string): Promise<UserEntity> {
    const user = await this.users.findOneBy({ id });
    if (!user) throw userNotFound();
    return user;
  }

  /** The user when `password` is theirs; 401 invalid-credentials otherwise. */
  async checkPassword(id: string, password: string): Promise<UserEntity> {
    const user = await this.get(id);
    if (!(await verifyPassword(password, user.passwordHash))) throw invalidCredentials();
    return user;
  }

  async setPassword(user: UserEntity, password: string): Promise<void> {
    user.passwordHash = await hashPassword(password);
    await this.users.save(user);
  }

  async setRoles(id: string, roles: Role[]): Promise<UserEntity> {
    const user = await this.get(id);
    user.roles = roles;
    return this.users.save(user);
  }
}
